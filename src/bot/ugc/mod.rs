//! UGC talking-head ads in the chat: the character and voice galleries (`catalogue`), the
//! conversation (`flow`), the script and its speech preview (`speech`) and the free layout
//! preview and `/overlay` editor (`layout`).
pub mod catalogue;
pub mod flow;
pub mod layout;
pub mod speech;
