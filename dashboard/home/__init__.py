"""The dashboard home: the demo job and the live task charts."""
