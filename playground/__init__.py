"""`make playground`: the real bot between the stand-ins, driven from a web page."""
