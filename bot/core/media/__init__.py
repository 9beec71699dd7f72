"""Audio files: `inspect` is what the intake awaits (a verdict, the measured length, size
limits); `worker` runs `probe` (FFmpeg's verdict) and `convert` (FLAC) in bounded processes;
`download` streams attachments to disk within a size limit and checks audio links.
"""
