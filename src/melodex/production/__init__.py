"""Production and mastering: turns the sampler's stems into a finished stereo mix.

The prompt's texture words ("spacious", "warm", "lo-fi", "punchy", ...) choose a `MixSettings`; each
track is gain-staged by its role, equalised, compressed, saturated, placed in the stereo field and sent
to a shared reverb; the master is cleaned (DC, impulsive clicks), loudness-normalised to -14 LUFS and
true-peak limited below -1 dBTP. Effects come from pedalboard with every parameter set explicitly.

One module a stage, each importing only those below it, so a stage reads and is tested on its own:
`settings` (the knobs: texture words, how each role sits) and `loudness` (the meters) at the bottom,
then `effects` (a track's chain, the shared reverb, lo-fi), `mastering` (the master bus) and `mix`
(`produce`, the whole production). Callers import from the module that defines a name; this package
re-exports nothing, so there is one way to reach each.
"""
