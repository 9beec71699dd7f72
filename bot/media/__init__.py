"""Audio files: `inspect` judges a file by its content (format, duration, size limit),
`download` streams attachments to disk within a size limit and checks audio links.
"""
