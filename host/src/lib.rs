//! gnbr: back up, restore and migrate GeoNode instances.
//!
//! The binary's `main` calls [`main_impl`]; everything else is here so that
//! tests can drive the same code.

pub mod archive;
pub mod cancel;
pub mod cli;
pub mod commands;
pub mod config;
pub mod errors;
pub mod exit_codes;
pub mod fault;
pub mod fifo;
pub mod fixtures;
pub mod geonode;
pub mod geoserver;
pub mod plugins;
pub mod postgres;
pub mod process;
pub mod relocate;
pub mod requests;
pub mod retention;
pub mod schedule;
pub mod scratch;
pub mod sealed;
pub mod storage;
pub mod swap;
pub mod time;
pub mod ui;
pub mod versions;
pub mod web;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::{
    cli::{BackupsCommand, Cli, Command},
    errors::Error,
    ui::Ui,
};

/// Parses the command line, runs the command, and exits with its code.
pub fn main_impl() -> ! {
    exit_quietly_on_broken_pipe();
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    if let Some(identity) = cli.global.identity.clone() {
        archive::set_identity_file(identity);
    }
    if let Some(limit) = cli.global.max_object_size {
        fixtures::set_object_limit(limit);
    }
    let ui = Ui {
        quiet: cli.global.quiet,
        json: cli.global.json,
        log: None,
    };
    let installed = match cli.command {
        // The admin page ends on these signals by itself, after its run.
        Command::Serve(_) => Ok(()),
        _ => scratch::install_signal_handler(),
    };
    let code = match installed.and_then(|()| run(&cli, ui)) {
        Ok(code) => code,
        Err(err) => {
            if ui.json {
                println!("{}", err.to_json());
            }
            eprintln!("gnbr: error: {err}");
            err.exit_code()
        }
    };
    scratch::exit(code)
}

fn run(cli: &Cli, ui: Ui) -> Result<i32, Error> {
    let setup = cli.global.setup();
    match &cli.command {
        Command::Migrate(args) => {
            let report = commands::migrate::run(&args.request(setup), ui)?;
            commands::migrate::print_report(&report, ui);
            Ok(exit_codes::SUCCESS)
        }
        Command::Backup(args) => {
            let report = commands::backup::run(&args.request(setup), ui)?;
            commands::backup::print_report(&report, ui);
            Ok(exit_codes::SUCCESS)
        }
        Command::Restore(args) => {
            let report = commands::restore::run(&args.request(setup), ui)?;
            commands::restore::print_report(&report, ui);
            Ok(exit_codes::SUCCESS)
        }
        Command::Check => commands::check::run(&cli.global.check_request(), ui),
        Command::Backups(BackupsCommand::List(args)) => {
            let report = commands::backups::run(&args.request(setup), ui)?;
            commands::backups::print_report(&report, ui);
            Ok(report.exit_code())
        }
        Command::Prune(args) => {
            let report = commands::prune::run(&args.request(setup), ui)?;
            commands::prune::print_report(&report, ui);
            Ok(report.exit_code())
        }
        Command::Serve(args) => web::run(&args.request(setup), ui),
        Command::Plan(args) => {
            let plan = commands::plan::run(&args.request(setup), ui)?;
            commands::plan::print(&plan, ui);
            Ok(exit_codes::SUCCESS)
        }
        Command::Verify(args) => {
            let report = commands::verify::run(&args.request(setup), ui)?;
            commands::verify::print_report(&report, ui);
            Ok(report.exit_code())
        }
        Command::Plugins(command) => commands::plugins::run(&command.request(setup), ui),
        Command::ProbePlugin { path } => Ok(plugins::probe::run_child(path)),
    }
}

/// `println!` panics when its reader has gone (`gnbr plugins list | head`):
/// that reader had all it wanted, so gnbr ends quietly with success, as
/// ripgrep does. Every other panic keeps the default report.
fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            scratch::exit(exit_codes::SUCCESS);
        }
        default(info);
    }));
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("GNBR_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
