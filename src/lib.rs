//! registre: the register of processing activities of French local authorities (RGPD art. 30),
//! its purpose-limitation rules and their audit.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod consent;
pub mod demo;
pub mod digest;
pub mod model;
pub mod notice;
pub mod render;
pub mod service;
pub mod store;
pub mod vocabulary;
pub mod web;
pub mod yaml;
