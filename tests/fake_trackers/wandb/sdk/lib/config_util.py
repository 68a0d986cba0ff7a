class ConfigError(Exception):
    """Stand-in for wandb.sdk.lib.config_util.ConfigError."""
