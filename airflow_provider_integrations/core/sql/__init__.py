"""Pure SQL helpers: validated identifiers and statement builders."""
