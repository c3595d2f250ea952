"""What every function of this app answers: which function ran, for which method, with which
route values, so a test sees exactly how the host routed the request."""

import json

import azure.functions as func


def reply(name: str, req: func.HttpRequest) -> func.HttpResponse:
    body = {"function": name, "method": req.method, "params": dict(req.route_params)}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
