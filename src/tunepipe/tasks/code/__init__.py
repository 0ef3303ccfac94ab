"""The code tasks: ABD (:mod:`.abd`: find a program's input) and DED (:mod:`.ded`: write the
program), and what they share: the validators' executor rules (:mod:`.executor`, run in
:mod:`tunepipe.sandbox`), the rl-python sources and the built-in corpus (:mod:`.corpus`),
generated from the program templates (:mod:`.templates`)."""
