"""Object-detection prediction service: FastAPI on AWS Lambda (Mangum), ONNX Runtime inference."""
