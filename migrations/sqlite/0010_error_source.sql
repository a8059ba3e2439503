-- What a failed job's last attempt failed on (a provider's name, or media, storage,
-- database, internal), recorded with its class instead of being read back from the message.
ALTER TABLE jobs ADD COLUMN error_provider TEXT;
