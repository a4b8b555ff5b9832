//! Registration: the sans-IO protocol (`machine`) and the async handle that
//! drives it over a WebSocket (`client`).

pub mod client;
pub mod entropy;
pub mod machine;

#[cfg(test)]
mod tests;
