//! Real FFT plans shared by the augmentations. Planning a size costs as
//! much as a transform of it, so each size is planned once per process and
//! its plans (immutable, `Arc`) are reused by every thread and call.

use std::sync::{Arc, Mutex, OnceLock};

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

pub struct Plans {
    pub forward: Arc<dyn RealToComplex<f32>>,
    pub inverse: Arc<dyn ComplexToReal<f32>>,
}

pub fn plans(size: usize) -> Plans {
    static PLANNER: OnceLock<Mutex<RealFftPlanner<f32>>> = OnceLock::new();
    let mut planner = PLANNER.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    Plans { forward: planner.plan_fft_forward(size), inverse: planner.plan_fft_inverse(size) }
}
