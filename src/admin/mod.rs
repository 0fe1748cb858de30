//! The admin API's wire types (`types`), served under `/admin/` by
//! `server::admin` and spoken by `shale admin` (`cli::admin`).

pub mod types;
