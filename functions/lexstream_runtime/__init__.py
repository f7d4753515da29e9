"""lexstream's Lambda runtime: the shared contract and the fulfillment streaming helper.

It ships inside every route function's archive and, as a Lambda layer, to bot developers'
own fulfillment functions. It depends only on what the Lambda Python runtime has (boto3).
"""
