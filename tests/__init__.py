"""Tests of the template itself: its questions, every rendered variant, and the matrix."""
