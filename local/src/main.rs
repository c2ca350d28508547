//! `cargo run --release -p whoscalling-local -- [--port 3000] [--state-dir .whoscalling] [--config FILE]`

use whoscalling_local::{LocalError, Options, serve};

#[tokio::main]
async fn main() -> Result<(), LocalError> {
    whoscalling::logging::init_json_logging();
    let options = match Options::from_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(LocalError::Usage(text)) => {
            eprintln!("{text}");
            std::process::exit(2);
        }
        Err(other) => return Err(other),
    };
    let server = serve(options).await?;
    // Scripts and tests wait for this exact line.
    println!("listening on {}", server.base_url);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
