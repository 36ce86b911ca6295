"""Read side: what the API, the CLI and the checks ask of the built layers."""
