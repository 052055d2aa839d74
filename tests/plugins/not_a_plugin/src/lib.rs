//! A shared library that is not a gnbr plugin (no root module).

/// Adds two numbers.
#[no_mangle]
pub extern "C" fn not_a_plugin_add(a: i32, b: i32) -> i32 {
    a + b
}
