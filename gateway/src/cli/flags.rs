//! One flag per setting, made from [`crate::config::settings::SETTINGS`] rather than
//! written out again: `--bind ADDR`, `--max-connections N`, `--peer …` (repeatable), …
//! A value is checked as the setting reads it, so a malformed one is clap's usage error.

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

use crate::config::layers::Flags;
use crate::config::settings::SETTINGS;
use crate::config::Config;

/// The setting flags given on a command line.
#[derive(Debug, Clone, Default)]
pub struct SettingFlags {
    /// Each setting given, with its values in order.
    pub given: Flags,
}

impl FromArgMatches for SettingFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for setting in SETTINGS {
            if let Some(values) = matches.get_many::<String>(setting.key) {
                self.given.retain(|(s, _)| s.key != setting.key);
                self.given.push((setting, values.cloned().collect()));
            }
        }
        Ok(())
    }
}

impl Args for SettingFlags {
    fn augment_args(mut cmd: Command) -> Command {
        for setting in SETTINGS {
            let check = move |text: &str| -> Result<String, String> {
                setting.set(&mut Config::new(""), text)?;
                Ok(text.to_owned())
            };
            let action = if setting.list.is_some() {
                ArgAction::Append
            } else {
                ArgAction::Set
            };
            cmd = cmd.arg(
                Arg::new(setting.key)
                    .long(setting.flag)
                    .value_name(setting.value_name)
                    .help(setting.about)
                    .action(action)
                    .value_parser(check),
            );
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
