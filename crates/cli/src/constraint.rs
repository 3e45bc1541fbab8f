//! `halo constraint`: pcs's constraint vocabulary (location, colocation, order, list,
//! remove, ref) on the live cluster.

use crate::cluster::Target;
use crate::edit;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub dry_run: crate::config::DryRun,
    #[command(subcommand)]
    pub command: Option<ConstraintCommand>,
}

#[derive(clap::Subcommand)]
pub enum ConstraintCommand {
    /// `location RSC prefers|avoids NODE[=SCORE]...` (score INFINITY by default), or
    /// `location RSC rule [id=ID] [role=ROLE] [score=S|score-attribute=ATTR]
    /// EXPRESSION` (EXPRESSION: `ATTR lt|gt|lte|gte|eq|ne [integer|number|version|string]
    /// VALUE`, `defined|not_defined ATTR`, joined with and/or, in parentheses).
    #[command(allow_hyphen_values = true)]
    Location {
        resource: String,
        /// prefers, avoids or rule.
        how: String,
        /// NODE or NODE=SCORE; for rule, its options and expression.
        #[arg(trailing_var_arg = true)]
        nodes: Vec<String>,
    },
    /// `colocation add [ROLE] A with [ROLE] B [SCORE] [id=ID]`: place A where B is.
    Colocation {
        #[command(subcommand)]
        command: ColocationCommand,
    },
    /// `order [ACTION] A then [ACTION] B [kind=Mandatory|Optional|Serialize]
    /// [symmetrical=true|false] [id=ID]`: B waits for A. `order set A B [OPTIONS] [set C
    /// D [OPTIONS]]... [setoptions kind=K symmetrical=B id=ID]`: sets in order.
    #[command(allow_hyphen_values = true)]
    Order {
        #[arg(num_args = 1.., trailing_var_arg = true)]
        words: Vec<String>,
    },
    /// List the constraints (the default); with --full, as their configuration.
    #[command(alias = "show")]
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
        /// Every field of each, as the configuration holds it (native TOML).
        #[arg(long)]
        full: bool,
    },
    /// Remove constraints by id.
    #[command(alias = "delete")]
    Remove { ids: Vec<String> },
    /// The constraints that name RESOURCE.
    Ref { resource: String },
}

#[derive(clap::Subcommand)]
pub enum ColocationCommand {
    /// `add [ROLE] A with [ROLE] B [SCORE] [id=ID]`.
    Add {
        #[arg(num_args = 3.., trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// `set A B [sequential=false] [role=ROLE] [set C D ...]... [setoptions score=S
    /// id=ID]`: the members of each set together, the sets with each other.
    Set {
        #[arg(num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    args.dry_run.apply();
    let t = &args.target;
    let cmd = args.command.unwrap_or(ConstraintCommand::List {
        json: false,
        full: false,
    });
    let msg = match cmd {
        ConstraintCommand::Location {
            resource,
            how,
            nodes,
        } if how == "rule" => edit::constraint_location_rule(t, &resource, &nodes)?,
        ConstraintCommand::Location {
            resource,
            how,
            nodes,
        } => edit::constraint_location(t, &resource, &how, &nodes)?,
        ConstraintCommand::Colocation {
            command: ColocationCommand::Add { words },
        } => edit::constraint_colocation(t, &words)?,
        ConstraintCommand::Colocation {
            command: ColocationCommand::Set { words },
        } => edit::constraint_set(t, false, &words)?,
        ConstraintCommand::Order { words } if words.first().map(String::as_str) == Some("set") => {
            edit::constraint_set(t, true, &words[1..])?
        }
        ConstraintCommand::Order { words } => edit::constraint_order(t, &words)?,
        ConstraintCommand::Remove { ids } => edit::constraint_remove(t, &ids)?,
        ConstraintCommand::List { json, full } => {
            let cfg = edit::current(t)?;
            if full && !json {
                halo_model::to_native(&halo_model::Config {
                    constraints: cfg.constraints,
                    ..halo_model::Config::default()
                })
            } else if json {
                let list: Vec<serde_json::Value> = cfg
                    .constraints
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "id": c.id(),
                            "resources": edit::constraint_refs(c),
                            "text": edit::describe_constraint(c),
                        })
                    })
                    .collect();
                serde_json::to_string_pretty(&list)?
            } else if cfg.constraints.is_empty() {
                "no constraints".to_string()
            } else {
                cfg.constraints
                    .iter()
                    .map(edit::describe_constraint)
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        ConstraintCommand::Ref { resource } => {
            let cfg = edit::current(t)?;
            let ids: Vec<&str> = cfg
                .constraints
                .iter()
                .filter(|c| edit::constraint_refs(c).contains(&resource))
                .map(|c| c.id())
                .collect();
            format!("Resource: {resource}\n  {}", ids.join("\n  "))
        }
    };
    println!("{msg}");
    Ok(())
}
