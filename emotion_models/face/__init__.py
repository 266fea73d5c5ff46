"""Face path: detect faces in RGB frames, align them like FER2013 crops, classify the emotion."""
