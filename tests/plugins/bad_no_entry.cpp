// A shared library that is not a sluice plugin: it exports a function, but not
// the entry point (the name has a typo, as a hand-written plugin might).
extern "C" __attribute__((visibility("default"))) int sluice_plugin_entry_vl() { return 1; }
