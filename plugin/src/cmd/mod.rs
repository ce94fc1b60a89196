//! One module per verb. Each takes its parsed flags and writes its output;
//! what verbs share lives outside this directory.

pub mod certs;
pub mod connect;
pub mod disconnect;
pub mod doctor;
pub mod down;
pub mod gc;
pub mod kubeconfig;
pub mod load;
pub mod pause;
pub mod plan;
pub mod scale;
pub mod test;
pub mod tree;
pub mod up;
