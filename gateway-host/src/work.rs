//! The second module. The study's module transforms every body (`wasm:` +
//! body) and stays as it was, so its figures compare; the `compute_wasm` and
//! `json` workloads need a module that does real work, so gateway-host runs a
//! second one (`--work-module`) for them, with the same runtime.
//!
//! The work module is loaded on the first work request, not at start-up:
//! compiling it (embedded) would otherwise add to every cold start, which
//! measures the study's module alone.

use gateway_native::{Transform, TransformError};
use gateway_work::Job;

/// Builds the work module's transform when it is first needed.
pub type Loader = Box<dyn FnOnce() -> anyhow::Result<Box<dyn Transform>>>;

enum Work {
    None,
    Pending(Loader),
    Loaded(Box<dyn Transform>),
    /// Loading failed once; every work request says why (no retry per
    /// request: a module that does not compile would cost a compile each).
    Failed(String),
}

/// The study's transform, plus the same runtime loaded with the work module.
pub struct WithWork {
    study: Box<dyn Transform>,
    work: Work,
}

impl WithWork {
    /// With the work module already loaded (or none).
    pub fn new(study: Box<dyn Transform>, work: Option<Box<dyn Transform>>) -> Self {
        let work = match work {
            Some(t) => Work::Loaded(t),
            None => Work::None,
        };
        WithWork { study, work }
    }

    /// With the work module loaded by `loader` on the first work request.
    pub fn lazy(study: Box<dyn Transform>, loader: Loader) -> Self {
        WithWork {
            study,
            work: Work::Pending(loader),
        }
    }

    fn work_transform(&mut self) -> Result<&mut dyn Transform, TransformError> {
        if let Work::Pending(_) = self.work {
            let Work::Pending(loader) = std::mem::replace(&mut self.work, Work::None) else {
                unreachable!("checked just above");
            };
            self.work = match loader() {
                Ok(t) => Work::Loaded(t),
                Err(e) => {
                    eprintln!("gateway-host: loading the work module: {e:#}");
                    Work::Failed(format!("loading the work module: {e:#}"))
                }
            };
        }
        match &mut self.work {
            Work::Loaded(t) => Ok(t.as_mut()),
            Work::Failed(msg) => Err(TransformError::Runtime(msg.clone())),
            Work::None | Work::Pending(_) => Err(TransformError::Runtime(
                "no work module (start gateway-host with --work-module)".into(),
            )),
        }
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
        self.work_transform()?.apply(&job.encode())
    }
}
