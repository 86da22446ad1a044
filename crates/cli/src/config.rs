//! `serve --config FILE`: the server's options from a TOML file, so a service is configured by
//! editing a file instead of its unit (the Debian package's `/etc/smbus-proxy/serve.toml`).
//!
//! A key is an option's name (`listen`, `max_ops`, `insecure_network`; `-` or `_` alike), its
//! value the option's: a string or a number, `true` for a switch, a list for one that repeats
//! (`bus = [1, 3]`). The file becomes the options it names, put before those of the command
//! line, so the command line's parser checks both with the same messages; an option given on
//! the command line replaces the file's. Relative paths in the file are from its directory.

use smbus_proxy_wire::quote::{QUOTE_MAX, clip, quote};
use std::ffi::OsString;
use std::path::Path;

/// The options whose values are paths, resolved from the file's directory.
const PATHS: [&str; 6] = ["simulate", "token-file", "tls-cert", "tls-key", "tls-client-ca", "policy"];

/// `argv` with the options of the `--config` file of a `serve` inserted before the command
/// line's own; unchanged for anything else. `P` checks the file's options alone first, so that
/// a mistake in the file is reported as the file's.
pub fn expand<P: clap::Parser>(argv: Vec<OsString>) -> Result<Vec<OsString>, String> {
    if argv.get(1).is_none_or(|a| a != "serve") {
        return Ok(argv);
    }
    let given: Vec<String> = argv[2..].iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let config = given.iter().enumerate().find_map(|(i, a)| match a.strip_prefix("--config") {
        Some("") => given.get(i + 1).cloned(),
        Some(rest) => rest.strip_prefix('=').map(str::to_owned),
        None => None,
    });
    let Some(path) = config else { return Ok(argv) };
    let path = Path::new(&path);
    let at = |problem: String| format!("{}: {problem}", path.display());
    let text = smbus_proxy_sim::file::read_to_string(path, smbus_proxy_sim::file::SETTINGS_MAX)
        .map_err(|e| at(format!("cannot read it: {e}")))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let file = from_text(&text, dir, &[]).map_err(at)?;
    // Keys are `serve`'s options; a parser without `serve` leaves them all to `check`.
    if let Some(serve) = P::command().find_subcommand("serve") {
        unknown_key(&text, serve).map_err(at)?;
    }
    check::<P>(&argv[..2], &file).map_err(at)?;
    let from_file = from_text(&text, dir, &given).map_err(at)?;
    Ok(argv[..2]
        .iter()
        .cloned()
        .chain(from_file.into_iter().map(OsString::from))
        .chain(argv[2..].iter().cloned())
        .collect())
}

/// Checks the file's options alone with `P`, after `command` (the program and `serve`): the
/// problem, if any, quoting the file's values by at most 40 characters.
pub fn check<P: clap::Parser>(command: &[OsString], file: &[String]) -> Result<(), String> {
    let Err(e) = P::try_parse_from(command.iter().cloned().chain(file.iter().map(OsString::from))) else {
        return Ok(());
    };
    // What the command line may complete (a TLS key for the file's certificate) is left to the
    // parse of both together.
    if e.kind() == clap::error::ErrorKind::MissingRequiredArgument {
        return Ok(());
    }
    let mut first = e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
    // clap quotes a value or an unknown key whole: the file's are quoted as any outside text
    // is, by their first 40 characters.
    for long in file.iter().filter(|a| a.chars().nth(QUOTE_MAX).is_some()) {
        first = first.replace(long.as_str(), &quote(long).to_string());
    }
    Err(clip(&first).into_owned())
}

/// A key that is none of `serve`'s options, with its line and the nearest option's name, as a
/// misspelling gets (`busses` for `bus`); the command line's parser would only say that
/// `--busses` is unexpected.
pub fn unknown_key(text: &str, serve: &clap::Command) -> Result<(), String> {
    let Ok(table) = text.parse::<toml::Table>() else { return Ok(()) };
    let options: Vec<&str> = serve.get_arguments().filter_map(clap::Arg::get_long).collect();
    let Some(key) = table.keys().find(|k| !options.contains(&k.replace('_', "-").as_str())) else {
        return Ok(());
    };
    let name = key.replace('_', "-");
    // A key is a bare word at the start of its line, before its `=`.
    let line = text.lines().position(|l| {
        l.trim_start().strip_prefix(key.as_str()).is_some_and(|rest| rest.trim_start().starts_with('='))
    });
    let at = line.map(|n| format!("line {}: ", n + 1)).unwrap_or_default();
    let nearest = options
        .iter()
        .filter(|o| !["config", "help", "version"].contains(o))
        .map(|o| (strsim::damerau_levenshtein(&name, o), o))
        .min()
        .filter(|&(distance, _)| distance <= 3)
        .map(|(_, o)| format!("; did you mean `{}`?", o.replace('-', "_")))
        .unwrap_or_default();
    Err(format!(
        "{at}{} is not an option of serve{nearest} (`smbus-proxy serve --help` lists them)",
        quote(key)
    ))
}

/// A settings file's text as command-line arguments, less those in `given`; relative paths
/// are from `dir`. The problem, if any, does not name the file.
pub fn from_text(text: &str, dir: &Path, given: &[String]) -> Result<Vec<String>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| clip(e.message()).into_owned())?;
    let mut args = Vec::new();
    for (key, value) in table {
        let name = key.replace('_', "-");
        if name == "config" {
            return Err("config cannot name another file".into());
        }
        // Under systemd, a server that printed its help and exited 0 would be a "successful"
        // stop that is never restarted.
        if name == "help" || name == "version" {
            return Err(format!("{name}: not a setting (it prints and exits instead of serving)"));
        }
        let flag = format!("--{name}");
        if given.iter().any(|a| *a == flag || a.starts_with(&format!("{flag}="))) {
            continue;
        }
        let one = |v: &toml::Value| -> Result<Option<String>, String> {
            Ok(match v {
                toml::Value::String(s) if PATHS.contains(&name.as_str()) => {
                    Some(dir.join(s).display().to_string())
                }
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Integer(n) => Some(n.to_string()),
                toml::Value::Boolean(true) => None,
                other => {
                    let problem = "is not an option's value (a string, a number, true, or a list of those)";
                    return Err(format!("{}: {} {problem}", quote(&key), other.type_str()));
                }
            })
        };
        match &value {
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for item in items {
                    args.push(flag.clone());
                    args.extend(one(item)?);
                }
            }
            v => {
                args.push(flag.clone());
                args.extend(one(v)?);
            }
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command line that takes anything, to test the expansion alone.
    #[derive(clap::Parser)]
    struct Accepting {
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        _all: Vec<String>,
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_file_goes_first_and_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serve.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:50051\"\nbus = [1, 3]\ninsecure_network = true\nmax_ops = 8\n\
             policy = \"policy.toml\"\nlog_ops = \"info\"\nsimulate = false\n",
        )
        .unwrap();
        let config = file.to_str().unwrap();
        let out = expand::<Accepting>(argv(&["smbus-proxy", "serve", "--config", config, "--max-ops", "4"]))
            .unwrap();
        let out: Vec<String> = out.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let policy = dir.path().join("policy.toml").display().to_string();
        let mut expected: Vec<String> = ["smbus-proxy", "serve"].map(String::from).to_vec();
        // toml's table keeps its keys sorted.
        for arg in [
            "--bus",
            "1",
            "--bus",
            "3",
            "--insecure-network",
            "--listen",
            "0.0.0.0:50051",
            "--log-ops",
            "info",
        ] {
            expected.push(arg.into());
        }
        expected.extend(["--policy".into(), policy]);
        expected.extend(["--config", config, "--max-ops", "4"].map(String::from));
        assert_eq!(out, expected);
        let other = argv(&["smbus-proxy", "detect", "--config", config]);
        assert_eq!(expand::<Accepting>(other.clone()).unwrap(), other, "only serve reads a file");
    }

    #[test]
    fn mistakes_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serve.toml");
        let expand_with = |text: &str| {
            std::fs::write(&file, text).unwrap();
            expand::<Accepting>(argv(&["smbus-proxy", "serve", "--config", file.to_str().unwrap()]))
                .unwrap_err()
        };
        assert!(
            expand_with("listen = [[1]]").contains("serve.toml: \"listen\": array is not an option's value")
        );
        assert!(expand_with("listen = ").contains("serve.toml: "));
        assert!(expand_with("config = \"x\"").contains("config cannot name another file"));
        for key in ["help", "version"] {
            let e = expand_with(&format!("{key} = true"));
            assert!(e.contains(&format!("serve.toml: {key}: not a setting")), "{e}");
        }
        let missing = expand::<Accepting>(argv(&["smbus-proxy", "serve", "--config", "/nonexistent.toml"]))
            .unwrap_err();
        assert!(missing.starts_with("/nonexistent.toml: cannot read it: "), "{missing}");
    }
}
