//! gateway-native's integration tests, one binary: one link step instead of
//! one per file, and the real-binary helpers in `support`.

mod support;

mod bad_input;
mod keep_alive;
mod proxy;
mod request_props;
mod workloads;
