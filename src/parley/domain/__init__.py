"""The domain: models, rules and the ports adapters implement. Standard library only."""
