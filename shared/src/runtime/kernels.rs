//! Which of tract's matrix kernels the runtime lets it choose.
//!
//! tract-linalg 0.23.9 picks its Intel AMX int8 kernel on CPUs that have
//! AMX (Sapphire Rapids and later Xeons). `avx512amx_mmm_i32_16x16` loads
//! 64-byte K blocks of a packed operand whose packing pads K only to a
//! multiple of 4, so for our convolutions (K = 144, 288) it reads past the
//! end of the buffer: `emoedge-train eval` of the FER-2013 validation faces
//! died with a segmentation fault inside that kernel on an AMX Xeon, in a
//! rayon worker thread.
//!
//! [`select_safe_kernels`] removes `amx-int8` from what tract believes the
//! CPU has, through tract's own `TRACT_CPU_ISA` knob, so int8 layers run on
//! its AVX-512 VNNI/AVX2 kernels as on every other x86-64 CPU (the AMX
//! bf16 f32 kernel is already off unless `TRACT_AMX_BF16` opts in). The
//! setting is tract's process-wide configuration, read once when tract
//! first probes the CPU, so it is made before the first model is built. A
//! `TRACT_CPU_ISA` in the environment takes precedence (tract reads the
//! environment before this configuration), so a user can opt back in.
//! Other architectures (the Pi's aarch64) are not affected.

use std::sync::Once;

/// The `TRACT_CPU_ISA` edit applied on x86-64 unless the environment sets
/// one.
#[cfg(target_arch = "x86_64")]
const SAFE_ISA_EDIT: &str = "-amx-int8";

/// Makes tract leave out its AMX int8 kernel (see the module docs). Idempotent
/// and cheap; [`super::Model`] calls it before building any plan.
pub fn select_safe_kernels() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // tract refuses (panics on) another architecture's feature names.
        #[cfg(target_arch = "x86_64")]
        if let Err(e) = tract_core::knobs::set_config_global("TRACT_CPU_ISA", SAFE_ISA_EDIT) {
            log::warn!(
                "cannot keep tract off its AMX int8 kernel ({e}); set TRACT_CPU_ISA={SAFE_ISA_EDIT}"
            );
        }
    });
}
