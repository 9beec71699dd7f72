"""The MusicGPT API: `client` talks to it (retries, uploads, errors), `parse` reads what it
sends back (submit answers, task states, webhook bodies). `openapi.yaml` describes the subset
of the API the bot uses; the MusicGPT stand-in validates requests against it.
"""
