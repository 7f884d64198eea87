"""parley: a self-hosted server for the Nexmo/Vonage Conversation API."""

__version__ = "0.1.0"
