import azure.functions as func
from __app__.shared_code import reply


def main(req: func.HttpRequest) -> func.HttpResponse:
    return reply("Files", req)
