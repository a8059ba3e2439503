//! The bot's commands as one type: routing (`handlers`), the command menu (`setMyCommands`)
//! and the admin commands all come from this enum, so a command cannot be routed but missing
//! from the menu or the other way round.
use teloxide::utils::command::{BotCommands, ParseError};

#[derive(BotCommands, Clone, Debug, PartialEq, Eq)]
#[command(rename_rule = "lowercase")]
pub enum Command {
    #[command(description = "Главное меню / main menu")]
    Start(String),
    #[command(description = "Как пользоваться / how to use")]
    Help,
    #[command(description = "Видео из текста / video from text")]
    Generate(String),
    #[command(description = "Карточка товара / product card")]
    Product,
    #[command(description = "UGC-ролик / UGC video")]
    Create,
    #[command(description = "Мои товары по ссылкам / my products from links")]
    Products,
    #[command(description = "Мой бренд: логотип, цвет, финальный кадр / my brand")]
    Brand,
    #[command(description = "Баланс / balance")]
    Balance,
    #[command(description = "Купить токены / buy tokens")]
    Buy,
    #[command(description = "Мои задачи / my jobs")]
    Queue,
    #[command(description = "Мои видео / my videos")]
    History,
    #[command(description = "Продолжить ролик / resume")]
    Resume,
    #[command(description = "Пересобрать последний ролик / compose again")]
    Overlay,
    #[command(description = "Отменить шаг / cancel this step")]
    Cancel,
    #[command(description = "Написать нам / feedback")]
    Feedback(String),
    #[command(description = "Ключи HTTP API / API keys")]
    Api(String),
    #[command(description = "Язык / language")]
    Language,
    #[command(description = "Пригласить друга / invite a friend")]
    Referral,
    #[command(description = "Промокод / promo code")]
    Promo(String),
    #[command(description = "Платежи и чеки / payments and receipts")]
    Orders,
    #[command(description = "Условия / terms")]
    Terms,
    #[command(description = "Конфиденциальность / privacy")]
    Privacy,
    #[command(description = "Возвраты / refunds")]
    Refunds,
    #[command(description = "Удалить мои данные / delete my data")]
    Deletedata,
    #[command(hide)]
    Menu,
    // Admins only (`ADMIN_IDS`); hidden from the menu.
    #[command(hide)]
    Topup(String),
    #[command(hide)]
    Users(String),
    #[command(hide)]
    Stats,
    #[command(hide)]
    User(String),
    #[command(hide)]
    Ban(String),
    #[command(hide)]
    Unban(String),
    #[command(hide)]
    Refund(String),
    #[command(hide)]
    Providers,
    #[command(hide)]
    Job(String),
    #[command(hide)]
    Addcharacter,
    #[command(hide)]
    Characters,
}

impl Command {
    /// Reads `/name[@bot] args`. Extra words after a command that takes none are ignored
    /// (`/help please` is `/help`); `None` for anything that is not one of ours.
    pub fn read(text: &str) -> Option<Command> {
        let body = text.trim().strip_prefix('/')?;
        let (head, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
        let name = head.split('@').next().unwrap_or("").to_ascii_lowercase();
        let line = format!("/{name} {}", rest.trim());
        match Command::parse(line.trim_end(), "") {
            Ok(c) => Some(c),
            Err(ParseError::TooManyArguments { .. }) => {
                Command::parse(&format!("/{name}"), "").ok()
            }
            Err(_) => None,
        }
    }

    /// Admin commands: their name (as `admin_cmds` expects it) and arguments.
    pub fn admin(&self) -> Option<(&'static str, &str)> {
        Some(match self {
            Command::Topup(a) => ("topup", a),
            Command::Users(a) => ("users", a),
            Command::Stats => ("stats", ""),
            Command::User(a) => ("user", a),
            Command::Ban(a) => ("ban", a),
            Command::Unban(a) => ("unban", a),
            Command::Refund(a) => ("refund", a),
            Command::Providers => ("providers", ""),
            Command::Job(a) => ("job", a),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Command;
    use teloxide::utils::command::BotCommands;

    #[test]
    fn commands_read_with_arguments_bot_names_and_extra_words() {
        assert_eq!(
            Command::read("/generate маяк на закате"),
            Some(Command::Generate("маяк на закате".into()))
        );
        assert_eq!(
            Command::read("/generate"),
            Some(Command::Generate(String::new()))
        );
        assert_eq!(
            Command::read("/Help@reelforge_bot please"),
            Some(Command::Help)
        );
        assert_eq!(
            Command::read("/topup @anna 500"),
            Some(Command::Topup("@anna 500".into()))
        );
        assert_eq!(Command::read("/nope"), None);
        assert_eq!(Command::read("hello"), None);
    }

    #[test]
    fn the_menu_lists_the_user_commands_only() {
        let menu: Vec<String> = Command::bot_commands()
            .into_iter()
            .map(|c| c.command)
            .collect();
        assert!(
            menu.iter().any(|c| c == "/overlay" || c == "overlay"),
            "{menu:?}"
        );
        assert!(menu.iter().any(|c| c.ends_with("cancel")), "{menu:?}");
        assert!(!menu.iter().any(|c| c.ends_with("topup")), "{menu:?}");
    }
}
