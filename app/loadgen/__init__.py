"""loadgen: steady, realistic traffic through the whole loan-application flow.

Each flow creates an application (v1 or v2), submits personal details and an address, uploads
an ID and a fiscal document, reads the application and asks for the invite. A share of flows
sends bad requests (unknown routes, malformed JSON, missing or foreign tokens, wrong media
types) and a share uploads documents the tagger cannot read, so every dashboard has errors and
tagger failures to show from the first minute.

Modules, each importing only those after it: ``cli`` (the ``loadgen`` command), ``runner`` (the
run loop), ``flow`` (one applicant's walk), ``control`` (the traffic profile and the api's admin
endpoint), ``settings`` (the environment, the admin token's check).
"""
