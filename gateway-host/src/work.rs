//! The second module. The study's module transforms every body (`wasm:` +
//! body) and stays as it was, so its figures compare; the `compute_wasm` and
//! `json` workloads need a module that does real work, so gateway-host runs a
//! second one (`--work-module`) for them, with the same runtime.

use gateway_native::{Transform, TransformError};
use gateway_work::Job;

/// The study's transform, plus the same runtime loaded with the work module.
pub struct WithWork {
    study: Box<dyn Transform>,
    work: Option<Box<dyn Transform>>,
}

impl WithWork {
    pub fn new(study: Box<dyn Transform>, work: Option<Box<dyn Transform>>) -> Self {
        WithWork { study, work }
    }
}

impl Transform for WithWork {
    fn name(&self) -> &str {
        self.study.name()
    }

    fn apply(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        self.study.apply(body)
    }

    /// The job goes to the work module on its stdin; its stdout (`wasm:` +
    /// the result) is the body.
    fn work(&mut self, job: &Job) -> Result<Vec<u8>, TransformError> {
        match &mut self.work {
            Some(work) => work.apply(&job.encode()),
            None => Err(TransformError::Runtime(
                "no work module (start gateway-host with --work-module)".into(),
            )),
        }
    }
}
