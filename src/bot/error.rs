//! What a handler returns: any error becomes a plain "something went wrong" for the user and a
//! log line for the operator (see `handlers`).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;
pub type HandlerResult = Result<(), HandlerError>;
