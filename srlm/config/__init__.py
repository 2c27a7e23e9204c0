"""The run's configuration: schema, hydra composition, checks, recipes, the resolved run config."""

from srlm.config.resolvers import register_resolvers

register_resolvers()  # structured configs built directly (OmegaConf.structured) resolve too
