//! `cargo run -p ptxsim --example ptxcheck -- file.ptx`: parse a PTX file, list its kernels and
//! any instruction ptxsim cannot execute.
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: ptxcheck FILE.ptx");
        std::process::exit(2);
    };
    let src = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    match ptxsim::Module::parse(&src) {
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
        Ok(m) => {
            println!("kernels: {}", m.kernel_names().join(", "));
            let u = m.unsupported();
            for (line, why) in &u {
                println!("{path}:{line}: {why}");
            }
            if !u.is_empty() {
                std::process::exit(1);
            }
        }
    }
}
