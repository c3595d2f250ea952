import azure.functions as func


def main(req: func.HttpRequest, outblob: func.Out[str]) -> func.HttpResponse:
    outblob.set(req.get_body().decode())
    return func.HttpResponse("written", status_code=201)
