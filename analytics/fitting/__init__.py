"""Pure fitting code: arrays in, results out. No Django here."""
