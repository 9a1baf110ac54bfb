"""Label Studio round trip of an EMMEL dataset (issue #5).

``config``: the labeling config and the names it uses; ``candidates``: the entity choices of a
task; ``images``: image URLs (local-files, http, inline) and their checks; ``tasks``: dataset ->
task JSON; ``results``: Label Studio export -> votes; ``apply``: votes -> a new dataset version and
its review report; ``server``: push / pull through ``label-studio-sdk``.
"""
