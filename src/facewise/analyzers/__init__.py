"""Face analysis: age, gender, expression, head pose, landmarks, quality."""
