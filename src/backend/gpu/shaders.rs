//! The WGSL kernels of the GPU backend (in `wgsl/`), one [`Kernel`] per
//! entry point.

use super::context::Kernel;

/// Prepended to every module: thread indexing and the numerically safe
/// `sigmoid`, `tanh_` and `finite`.
pub(super) const PRELUDE: &str = include_str!("wgsl/prelude.wgsl");

const ELEMENTWISE: &str = include_str!("wgsl/elementwise.wgsl");
const INDEX: &str = include_str!("wgsl/index.wgsl");
const REDUCE: &str = include_str!("wgsl/reduce.wgsl");
const SOFTMAX: &str = include_str!("wgsl/softmax.wgsl");
const ATTENTION: &str = include_str!("wgsl/attention.wgsl");
const UPDATE: &str = include_str!("wgsl/update.wgsl");
const GEMM: &str = include_str!("wgsl/gemm.wgsl");
const RANDOM: &str = include_str!("wgsl/random.wgsl");
const SAMPLE: &str = include_str!("wgsl/sample.wgsl");
const MLSTM: &str = include_str!("wgsl/mlstm.wgsl");

/// Declares kernels of one module: `NAME = "entry"`.
macro_rules! kernels {
    ($module:ident, $source:expr, $buffers:expr; $($name:ident = $entry:literal),* $(,)?) => {
        $(
            pub(super) const $name: Kernel = Kernel {
                module: stringify!($module),
                source: $source,
                entry: $entry,
                buffers: $buffers,
            };
        )*
    };
}

kernels!(elementwise, ELEMENTWISE, 3;
    COPY = "copy",
    FILL = "fill",
    ADD = "add",
    MUL = "mul",
    MUL_INTO = "mul_into",
    SCALE = "scale",
    CLAMP = "clamp_",
    TANH = "tanh_forward",
    RELU = "relu_forward",
    TANH_BACKWARD = "tanh_backward",
    RELU_BACKWARD = "relu_backward",
    ADD_BIAS = "add_bias",
    SET_ROWS = "set_rows",
    COPY_BLOCK = "copy_block",
    ADD_BLOCK = "add_block",
    SUM_ROWS = "sum_rows",
    SCALE_TO_NORM = "scale_to_norm",
);

kernels!(index, INDEX, 3;
    GATHER_ROWS = "gather_rows",
    GATHER_COLUMNS = "gather_columns",
    SCATTER_ROWS = "scatter_rows",
    SCATTER_COLUMNS = "scatter_columns",
    SET_PADDED = "set_padded",
    ZERO_PADDED = "zero_padded",
    ADD_PADDED = "add_padded",
);

kernels!(reduce, REDUCE, 4;
    SUM_SQUARES = "sum_squares",
    NON_FINITE = "non_finite",
    MSE = "mse",
    MAE = "mae",
    SUM = "sum",
    FINISH = "finish",
    FLAG = "flag",
);

kernels!(softmax, SOFTMAX, 4;
    CROSS_ENTROPY = "cross_entropy",
    SOFTMAX_ROWS = "softmax",
    SOFTMAX_BACKWARD = "softmax_backward",
);

kernels!(attention, ATTENTION, 6;
    SCORES = "scores",
    SCORES_BACKWARD_V = "backward_v",
    SCORES_BACKWARD_Q = "backward_q",
    SCORES_BACKWARD_U = "backward_u",
);

kernels!(update, UPDATE, 5; UPDATE_PARAMS = "update");

kernels!(gemm, GEMM, 4; MATMUL = "matmul");

kernels!(random, RANDOM, 1; DROPOUT_MASK = "dropout_mask");

kernels!(sample, SAMPLE, 3; SAMPLE_TOKEN = "sample");

kernels!(mlstm, MLSTM, 7;
    MLSTM_WINDOWS = "windows",
    MLSTM_LOG_FORGET = "log_forget",
    MLSTM_STABILIZERS = "stabilizers",
    MLSTM_SCORES = "scores",
    MLSTM_NORMALIZERS = "normalizers",
    MLSTM_OUTPUTS = "outputs",
    MLSTM_FINAL_STATE_AND_PADDING = "final_state_and_padding",
    MLSTM_OUTPUTS_AND_PADDING_BACKWARD = "outputs_and_padding_backward",
    MLSTM_NORMALIZERS_BACKWARD = "normalizers_backward",
    MLSTM_SCORES_AND_FINAL_BACKWARD = "scores_and_final_backward",
    MLSTM_LOG_WEIGHT_SUMS = "log_weight_sums",
    MLSTM_INPUTS_BACKWARD = "inputs_backward",
    MLSTM_STATE_BACKWARD = "state_backward",
);
