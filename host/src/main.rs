//! The `gnbr` executable.

fn main() {
    gnbr::main_impl()
}
