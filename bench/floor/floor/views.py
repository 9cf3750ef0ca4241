"""The floor's one endpoint: what a stock DRF view with token authentication and one cache read costs."""

from django.core.cache import cache
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

CACHE_KEY = "floor:ping"


class PingView(APIView):
    """One django-redis `get` behind DRF's TokenAuthentication and IsAuthenticated."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"value": cache.get(CACHE_KEY)})
