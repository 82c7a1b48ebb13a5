//! HTTP/1.1 as the gateway needs it, and no more: the server reads one request
//! head at a time into a fixed buffer ([`request`]), answers with a
//! `text/plain` response written in one `write_all` ([`response`]), and the
//! proxy (and upstream-echo's tests) read an upstream's answer with the small
//! client side ([`client`]). Parsing is `httparse` everywhere, so the crates
//! share one parser.

pub mod client;
pub mod request;
pub mod response;

pub use client::{read_response, ClientError, ClientResponse, ResponseReader};
pub use request::{
    parse_decimal, parse_head, Method, Request, RequestError, RequestReader, MAX_BODY_BYTES,
    MAX_HEADERS, MAX_HEAD_BYTES,
};
pub use response::{reason_phrase, write_response, Response};
