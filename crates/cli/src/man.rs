//! `smbus-proxy man`: the whole manual on one page. clap renders the synopsis and the global
//! options; every command follows with what its `--help` prints (the i2c-tools commands
//! parse their own arguments, so their usage text is theirs), then the environment and the
//! files the package installs. One page, because the package installs one.

use clap::Command;
use roff::{Roff, bold, italic, roman};
use std::io::{self, Write};

/// What `smbus-proxy COMMAND --help` prints, for the commands that parse their own
/// arguments; the rest are clap's.
fn own_usage(command: &str) -> Option<&'static str> {
    use crate::tools;
    Some(match command {
        "detect" => tools::detect::USAGE,
        "dump" => tools::dump::USAGE,
        "gpio" => tools::gpio::USAGE,
        "get" => tools::get::USAGE,
        "set" => tools::set::USAGE,
        "transfer" => tools::transfer::USAGE,
        "monitor" => tools::monitor::USAGE,
        "status" => tools::status::USAGE,
        "web" => crate::web::USAGE,
        #[cfg(target_os = "linux")]
        "attach" => crate::attach::USAGE,
        _ => return None,
    })
}

/// Writes the page for `cli`, the whole command.
pub fn render(cli: Command, out: &mut dyn Write) -> io::Result<()> {
    let man = clap_mangen::Man::new(cli.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;

    let mut page = Roff::new();
    page.control("SH", ["COMMANDS"]);
    for mut command in cli.get_subcommands().filter(|c| !c.is_hide_set()).cloned() {
        let name = format!("smbus-proxy {}", command.get_name());
        page.control("SS", [name.as_str()]);
        if let Some(about) = command.get_long_about().or(command.get_about()) {
            page.text([roman(about.to_string())]);
        }
        match own_usage(command.get_name()) {
            Some(usage) => preformatted(&mut page, usage),
            None => {
                command.set_bin_name(name);
                let usage = command.render_usage().to_string();
                preformatted(&mut page, &usage);
                options(&mut page, &command);
            }
        }
    }

    page.control("SH", ["ENVIRONMENT"]);
    for (variable, what) in [
        ("SMBUS_PROXY_SERVER", "the server the commands talk to, when --server is not given"),
        ("SMBUS_PROXY_TOKEN", "the token sent to the server, when --token-file is not given"),
        (
            "SMBUS_PROXY_CA, SMBUS_PROXY_CERT, SMBUS_PROXY_KEY",
            "for https:// servers: the CA, and this client's certificate and key",
        ),
        ("SMBUS_PROXY_LISTEN", "serve's address, when --listen is not given"),
        ("RUST_LOG", "how much the commands log (error, warn, info, debug, trace)"),
    ] {
        page.control("TP", []).text([bold(variable)]).text([roman(what)]);
    }
    page.control("SH", ["FILES"]);
    for (file, what) in [
        ("/etc/smbus-proxy/serve.toml", "the service's options: every option of serve, at its default"),
        (
            "/usr/lib/systemd/system/smbus-proxy.service",
            "the service, run as the system user smbus-proxy in group i2c",
        ),
        ("/usr/share/doc/smbus-proxy/examples/policy.toml", "an access policy to start from"),
        (
            "/usr/share/smbus-proxy/lab/",
            "a lab of simulated buses (lab.toml, and the trace it replays) for serve --simulate",
        ),
    ] {
        page.control("TP", []).text([bold(file)]).text([roman(what)]);
    }
    page.control("SH", ["SEE ALSO"]);
    page.text([
        italic("i2cdetect"),
        roman("(8), "),
        italic("i2cdump"),
        roman("(8), "),
        italic("i2cget"),
        roman("(8), "),
        italic("i2cset"),
        roman("(8), "),
        italic("i2ctransfer"),
        roman("(8), "),
        italic("systemd.service"),
        roman("(5); /usr/share/doc/smbus-proxy/README.md and SECURITY.md"),
    ]);
    out.write_all(page.to_roff().as_bytes())
}

/// A clap command's arguments, each with its help, default and variable.
fn options(page: &mut Roff, command: &Command) {
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        let mut head = Vec::new();
        let values = arg.get_value_names().unwrap_or_default();
        if arg.is_positional() {
            head.push(italic(values.first().map_or(arg.get_id().as_str(), |v| v.as_str())));
        } else {
            let flags = arg.get_short().map(|s| format!("-{s}")).into_iter();
            let flags: Vec<String> = flags.chain(arg.get_long().map(|l| format!("--{l}"))).collect();
            head.push(bold(flags.join(", ")));
            for value in values {
                head.push(roman(" "));
                head.push(italic(value.as_str()));
            }
        }
        page.control("TP", []).text(head);
        let mut help = arg.get_long_help().or(arg.get_help()).map(ToString::to_string).unwrap_or_default();
        let defaults: Vec<String> =
            arg.get_default_values().iter().map(|v| v.to_string_lossy().into()).collect();
        if !defaults.is_empty() && arg.get_action().takes_values() {
            help += &format!(" [default: {}]", defaults.join(", "));
        }
        if let Some(env) = arg.get_env() {
            help += &format!(" [env: {}]", env.to_string_lossy());
        }
        page.text([roman(help)]);
    }
}

/// `text` as it is, line for line: usage texts are laid out in columns.
fn preformatted(page: &mut Roff, text: &str) {
    page.control("PP", []).control("nf", []);
    for line in text.lines() {
        page.text([roman(line)]);
    }
    page.control("fi", []);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn page() -> String {
        let mut out = Vec::new();
        render(crate::Cli::command(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_command_comes_with_its_options() {
        let page = page();
        for command in crate::Cli::command().get_subcommands() {
            let name = command.get_name();
            assert!(page.contains(&format!(".SS \"smbus-proxy {name}\"")), "no section for {name}");
            // A command that turned clap's help off parses its own arguments: its usage is ours.
            if command.is_disable_help_flag_set() {
                assert!(own_usage(name).is_some(), "{name} parses its own arguments: give its usage");
            }
        }
        for option in ["\\-\\-max\\-buffered", "\\-\\-server URL", "LENGTH is the I2C block data length"] {
            assert!(page.contains(option), "the page lacks {option}");
        }
        // Pages the package does not install are not referred to.
        assert!(!page.contains("smbus\\-proxy\\-serve(1)"));
    }
}
