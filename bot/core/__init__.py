"""Everything that knows nothing of Discord: songs, servers, the tracker, MusicGPT, media,
storage."""
