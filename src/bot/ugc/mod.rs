//! UGC talking-head ads in the chat: the character and voice galleries (`catalogue`), the
//! conversation (`flow`), the script and its speech preview (`speech`), ordering a confirmed draft (`order`) and the free layout
//! preview and `/overlay` editor (`layout`), and language versions of one ad (`versions`).
pub mod catalogue;
pub mod flow;
pub mod layout;
pub mod order;
pub mod speech;
pub mod versions;
