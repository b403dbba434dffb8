//! Build your own: the reference solutions (see docs/src/build-your-own.md).
#![allow(dead_code)]
pub mod step1_callbacks;
pub mod step2_generators;
pub mod step3_trampoline;
pub mod step4_sleep;
pub mod step5_stackful;
